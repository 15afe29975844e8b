import sys

from fairskin.cli import main

sys.exit(main())
