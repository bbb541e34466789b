"""`python -m tributary_sdk build …` (the same as `tributary-py build …`)."""

import sys

from .build import main

sys.exit(main())
