import sys

from hf_d2.cli.main import main

sys.exit(main())
