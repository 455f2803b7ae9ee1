from rightsmark._cli import main

main()
