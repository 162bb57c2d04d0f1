import sys

from vocablab.cli import main

sys.exit(main())
