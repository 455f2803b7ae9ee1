#!/usr/bin/env bash
# The main job on the bundled examples: sign every sample image with the example keys, then verify.
# Run from the repository root after 'pip install .'. Writes into ./signed-examples (recreated each run).
set -euo pipefail
cd "$(dirname "$0")/.."
out=signed-examples
rm -rf "$out"
keys=(--key keys/examples/signer.key --cert keys/examples/signer.pem)

# A portrait-style photo: one identifiable person, whose model release allows AI training.
rightsmark sign examples/images/harbour.jpg -o "$out" "${keys[@]}" \
    --author "Example Photographer" --author-url https://example.org/photographer \
    --license CC-BY-4.0 --ai-training allowed --consent examples/consent.json

# The rest show no people; licenses and permissions differ so the verdicts differ too.
rightsmark sign examples/images/market.png examples/images/street.webp examples/images/studio.tiff \
    examples/images/dunes.avif examples/images/garden.heic -o "$out" "${keys[@]}" \
    --author "Example Photographer" --license CC-BY-NC-4.0 --ai-training allowed --no-people
rightsmark sign examples/images/sketch.gif -o "$out" "${keys[@]}" \
    --author "Example Illustrator" --license CC0-1.0 --ai-training notAllowed --no-people

echo
echo "== verify with the default (strict) policy: commercial AI training"
echo "   (sketch.gif: its author did not allow AI training; CC-BY-NC files: not for commercial use)"
rightsmark verify "$out" --trust keys/examples/ca.pem && status=0 || status=$?
[ "$status" -eq 1 ] || { echo "unexpected verify exit code $status" >&2; exit 1; }

echo
echo "== the same files under examples/policy.toml, for non-commercial training, as a dataset builder runs it"
rightsmark verify "$out" --policy examples/policy.toml --non-commercial \
    -o "$out/report.jsonl" --keep-list "$out/keep.txt" && status=0 || status=$?
[ "$status" -eq 1 ] || { echo "unexpected verify exit code $status" >&2; exit 1; }
echo "kept (from $out/keep.txt):"
sed 's/^/  /' "$out/keep.txt"

echo
echo "== inspect $out/harbour.jpg"
rightsmark inspect "$out/harbour.jpg" --trust keys/examples/ca.pem
echo
echo "== a photographer's batch: the whole folder with a profile (examples/studio.toml), consent per image"
echo "   from examples/consent-map.csv, XMP written for tools that ignore C2PA"
rightsmark sign examples/images --profile examples/studio.toml -o "$out/studio"
echo "== the same again: nothing changed, so nothing is signed twice"
rightsmark sign examples/images --profile examples/studio.toml -o "$out/studio" -q
rightsmark verify "$out/studio/harbour.jpg" --trust keys/examples/ca.pem --non-commercial --format json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print("harbour.jpg:", r["decision"], "consent", r["consent"]["status"], "XMP drift", r["metadata_drift"])'

echo
echo "== permission that survives stripping: keep the signed manifests in a repository (indexed by the ISCC"
echo "   fingerprint each records), let a platform strip and re-encode two pictures, find their manifests again"
rightsmark repo add "$out/manifests.db" "$out"/harbour.jpg "$out"/market.png "$out"/street.webp \
    "$out"/studio.tiff "$out"/sketch.gif
python3 - "$out" <<'PY'
import sys
from PIL import Image
out = sys.argv[1]
for name in ("sketch.gif", "harbour.jpg"):  # resized, JPEG quality 80, every byte of metadata gone
    with Image.open(f"{out}/{name}") as im:
        small = im.convert("RGB").resize((im.width * 3 // 4, im.height * 3 // 4))
    small.save(f"{out}/stripped-{name.split('.')[0]}.jpg", "JPEG", quality=80)
PY
echo "   the stripped sketch carries no manifest, yet its recovered manifest says notAllowed: dropped even"
echo "   where unsigned files are kept (--keep-unsigned)"
rightsmark verify "$out/stripped-sketch.jpg" --recover "$out/manifests.db" --trust keys/examples/ca.pem \
    --keep-unsigned && status=0 || status=$?
[ "$status" -eq 1 ] || { echo "unexpected verify exit code $status" >&2; exit 1; }
echo "   the stripped harbour photo's recovered manifest allows it, which alone keeps nothing (a fingerprint"
echo "   can be made to collide) unless a policy says [treat] recovered = \"keep\""
rightsmark verify "$out/stripped-harbour.jpg" --recover "$out/manifests.db" --trust keys/examples/ca.pem \
    --non-commercial && status=0 || status=$?
[ "$status" -eq 1 ] || { echo "unexpected verify exit code $status" >&2; exit 1; }

echo
echo "demo finished: signed copies, report.jsonl and keep.txt are in $out/"
