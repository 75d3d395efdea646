"""A module that takes a minute to import: a pool's first worker still importing it when the pool is stopped."""

import time

time.sleep(60)
