"""Facts derived from the vendor's own release metadata (``make facts``).

The maintainer command ``python -m ddcompat.shared.derive`` reads PyPI's index for
``ddtrace`` and ``datadog-lambda`` through the standard simple API (PEP 691 JSON; the
METADATA of each datadog-lambda wheel), keeps what it read, trimmed, as a snapshot under
``tests/matrix/pypi/``, and writes from that snapshot alone the data files the matrix is
built from:

- ``shared/data/ddtrace-releases.tsv``: every final ddtrace release, its first upload
  day, ``Requires-Python``, whether it is yanked and how many wheels it has;
- ``shared/matrix/current/runtimes.yaml``: the runtime rows (Python x OS x CPU per
  release range) as the published wheels say, and ``known`` (the newest release of each
  line, the newest Lambda layer, the day the facts were read);
- ``shared/data/datadog-lambda-layers.tsv``: per Datadog Python Lambda layer, its
  datadog-lambda release, the ddtrace requirement of its METADATA, the newest ddtrace
  that met it on the layer's day and the tracer its release notes say it bundles.

Regenerating from the snapshot gives the shipped files byte for byte (a test checks it,
offline); ``--refresh`` reads the index again first. Decisions (README "Derived facts"):
a release with no wheel (sdist only) has no runtime rows; a yanked file counts (pip still
installs an exact pin of it) but a yanked release is never ``latest``; a wheel for a
Python that the file's ``Requires-Python`` excludes (cp315 under ``<3.15``) does not
count; free-threaded wheels (``cp314t``) would make ``3.14t`` rows, and none exist.
"""
