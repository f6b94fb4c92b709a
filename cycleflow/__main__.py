"""``python -m cycleflow`` runs the command line."""

from cycleflow.cli.main import main

if __name__ == "__main__":
    main()
