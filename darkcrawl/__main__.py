import sys

from darkcrawl.cli import main

sys.exit(main())
