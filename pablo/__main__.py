import sys

from pablo.cli import main

sys.exit(main())
