"""The image inspector: ddtrace, Python and framework versions read from the image itself
in its OCI registry (config first, then layers top-down, streamed), as trivy does.

Rooms: :mod:`.reference` (image references), :mod:`.registry` (the registry client: auth,
manifests, streamed blobs), :mod:`.layers` (what a layer's files say), :mod:`.inspector`
(one image's facts, cached by digest). Front ends wire it in; the pure core never imports
it.
"""
