"""What reading declared signals costs the unsigned fast path, against an earlier tree in the same run.

    git archive 6847e8b src | tar -x -C /tmp/base13            # the tree to compare with
    python benchmarks/bench_signals.py --against /tmp/base13/src
    python benchmarks/bench_signals.py --against OTHER/src --files 1000 --repeat 9

Workloads (generated once into --workdir and reused), unsigned 512x512 JPEGs (about 180 KB):
  xmp      each with an XMP packet as rightsmark writes it (author, dc:rights differing per file, license
           URL, usage terms, plus:DataMining cycling through the IPTC codes, model release, source type):
           every packet is parsed and four signals end in every record
  quiet    each with an XMP packet as a camera or an editor writes it (tool, dates, camera, title), naming
           no signal property: the packet is found and looked at, not parsed
  plain    the same images without XMP (nothing to read: the cost of looking)
and each again ten times over (hard links), where the start-up is amortised.

Every timing is a whole process, as a user runs it; the commands alternate between the trees so that machine
noise falls on both alike; min and median of --repeat runs are reported:
  sha256      read + sha256 of every file (python)
  this        `rightsmark verify DIR -f jsonl -o FILE -q` with this checkout's src
  against     the same command with --against's src (PYTHONPATH)
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_bulk import SHA  # the same sha256 baseline; this folder is on sys.path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


CODES = (
    "DMI-UNSPECIFIED",
    "DMI-ALLOWED",
    "DMI-PROHIBITED-AIMLTRAINING",
    "DMI-PROHIBITED-GENAIMLTRAINING",
    "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
    "DMI-PROHIBITED",
)


def image(seed: int) -> bytes:
    from PIL import Image

    random.seed(seed)
    out = io.BytesIO()
    Image.effect_noise((512, 512), 40 + seed % 20).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


QUIET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""'
    ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:tiff="http://ns.adobe.com/tiff/1.0/"'
    ' xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmp:CreatorTool="Adobe Lightroom Classic 13.0"'
    ' xmp:CreateDate="2024-05-0{day}T10:11:12" xmp:ModifyDate="2024-05-0{day}T11:12:13" tiff:Make="Camera"'
    ' tiff:Model="Model {n}" exif:ExposureTime="1/250" exif:FNumber="8/1" photoshop:DateCreated="2024-05-0{day}">'
    '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Picture {n}</rdf:li></rdf:Alt></dc:title>'
    "</rdf:Description></rdf:RDF></x:xmpmeta>\n" + " " * 2000 + '\n<?xpacket end="w"?>'
)


def make(work: Path, files: int) -> tuple[Path, Path, Path]:
    sys.path.insert(0, str(REPO / "src"))
    from rightsmark.media.formats import sniff
    from rightsmark.rights import xmp

    with_xmp, quiet, plain = work / f"xmp{files}", work / f"quiet{files}", work / f"plain{files}"
    if not all((d / ".done").exists() for d in (with_xmp, quiet, plain)):
        for d in (with_xmp, quiet, plain):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
        for i in range(files):
            data = image(i)
            (plain / f"img{i:05d}.jpg").write_bytes(data)
            packet = QUIET.format(day=1 + i % 9, n=i).encode()
            segment = b"\xff\xe1" + (2 + 29 + len(packet)).to_bytes(2, "big") + b"http://ns.adobe.com/xap/1.0/\x00"
            (quiet / f"img{i:05d}.jpg").write_bytes(data[:2] + segment + packet + data[2:])
            fields = xmp.XmpFields(
                creators=(f"Photographer {i % 37}",),
                rights=f"(c) 2024 Photographer {i % 37}, picture {i}",
                web_statement="https://creativecommons.org/licenses/by-nc/4.0/",
                usage_terms="Licensed under CC-BY-NC-4.0",
                marked=True,
                data_mining="http://ns.useplus.org/ldf/vocab/" + CODES[i % len(CODES)],
                model_release_status="http://ns.useplus.org/ldf/vocab/MR-NAP",
                digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
            )
            fmt = sniff(data[:64])
            assert fmt is not None
            embedded = xmp.embed(data, fmt, fields)
            assert isinstance(embedded, bytes)
            (with_xmp / f"img{i:05d}.jpg").write_bytes(embedded)
        for d in (with_xmp, quiet, plain):
            (d / ".done").touch()
    return with_xmp, quiet, plain


def tenfold(src: Path) -> Path:
    out = src.parent / f"{src.name}-x10"
    if not (out / ".done").exists():
        shutil.rmtree(out, ignore_errors=True)
        for copy in range(10):
            d = out / f"part{copy:02d}"
            d.mkdir(parents=True)
            for f in sorted(src.glob("*.jpg")):
                os.link(f, d / f.name)
        (out / ".done").touch()
    return out


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def compare(name: str, directory: Path, work: Path, against: Path | None, repeat: int) -> None:
    files = sum(1 for p in directory.rglob("*.jpg"))
    sha_script = work / "sha.py"
    sha_script.write_text(SHA)
    trees = {"this": REPO / "src"} | ({"against": against} if against else {})
    times: dict[str, list[float]] = {"sha256": [], **{t: [] for t in trees}}
    for _ in range(repeat):
        times["sha256"].append(timed([PY, str(sha_script), str(directory)]))
        for tree, src in trees.items():
            env = dict(os.environ, PYTHONPATH=str(src))
            cmd = [PY, "-m", "rightsmark", "verify", str(directory), "-f", "jsonl", "-o", str(work / "r.jsonl"), "-q"]
            times[tree].append(timed(cmd, env))
    print(f"\n[{name}] {files} files, {repeat} runs each (min / median)")
    sha = min(times["sha256"])
    for label, ts in times.items():
        lo, mid = min(ts), statistics.median(ts)
        extra = f"   ({lo / sha:.2f}x sha256)" if label != "sha256" else ""
        print(f"  {label:<8} {lo:7.3f} s / {mid:7.3f} s   {files / lo:8.0f} files/s{extra}")
    if against:
        lo = min(times["this"]) / min(times["against"])
        mid = statistics.median(times["this"]) / statistics.median(times["against"])
        print(f"  => this / against: {lo:.3f} (min), {mid:.3f} (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=REPO / ".bench")
    parser.add_argument("--against", type=Path, help="another tree's src/ (e.g. main before signals were read)")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", default="xmp,quiet,plain,xmp-x10,quiet-x10,plain-x10")
    args = parser.parse_args()
    work: Path = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} cores; python {sys.version.split()[0]}; workdir {work}; against {args.against}")
    with_xmp, quiet, plain = make(work, args.files)
    # compiled once for both trees: with PYTHONDONTWRITEBYTECODE set, a tree without .pyc files would pay for
    # compiling its modules in every run
    for src in (REPO / "src", *([args.against] if args.against else [])):
        subprocess.run([PY, "-m", "compileall", "-q", str(src)], check=True, stdout=subprocess.DEVNULL)
    only = set(args.only.split(","))
    for name, directory in (("xmp", with_xmp), ("quiet", quiet), ("plain", plain)):
        if name in only:
            compare(f"{name}: {args.files} unsigned JPEGs", directory, work, args.against, args.repeat)
        if f"{name}-x10" in only:
            compare(f"{name}: x10 (hard links)", tenfold(directory), work, args.against, args.repeat)


if __name__ == "__main__":
    main()
