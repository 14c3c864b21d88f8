import sys

from gbench.cli import main

if __name__ == "__main__":  # the main job's lanes start processes that import this module (spawn)
    sys.exit(main())
