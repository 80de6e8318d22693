import sys

from promlake.cli import main

sys.exit(main())
