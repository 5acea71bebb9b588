import sys

from goinspect.cli import main

sys.exit(main())
