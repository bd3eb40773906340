"""I/O sources: where descriptors and live objects come from, wired in by front ends.

- :mod:`.files`: descriptor files and directories (``check``, ``scanner --path``);
- :mod:`.kubernetes`: paginated, retried LISTs of the Kubernetes API (the scanner).

Sources may use network libraries (aiohttp, the ``kubernetes`` client for credentials);
the pure core (models, matrix, evaluator, policy, parsers) never imports them. A source
hands the core parsed documents; the core judges them.
"""
