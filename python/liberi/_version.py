"""The package's version: the liberi version (include/eri.h's ERI_VERSION_*) it was made for.
`make wheel` refuses to build when the two differ; setup.py reads it from here."""

PACKAGE_VERSION = "0.2.0"
