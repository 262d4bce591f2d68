from rdrf.cli import main

main()
