import sys

from vocablab.cli import main

if __name__ == "__main__":
    sys.exit(main())
