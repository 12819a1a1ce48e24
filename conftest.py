"""Test-session settings shared by the unit tests and the nbval run of the chapters."""

import os

# Chapters that train pick their preset from NIN_BOOK_PRESET; under the test suite they use the
# seconds-long "smoke" preset unless the caller asks for another. The nbval kernels inherit this.
os.environ.setdefault("NIN_BOOK_PRESET", "smoke")
# Chapters and tests never reach the network: with the data missing, loading fails with the loader's
# message (which says downloads are off) instead of downloading. Readers keep the download (unset).
os.environ.setdefault("NIN_BOOK_OFFLINE", "1")
