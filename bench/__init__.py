"""The benchmarks: each module a script run as ``.venv/bin/python -m bench.<name>`` from the
repository root, printing its tables with the machine's details; ``bench/run_all`` runs
them all and writes ``bench/results/run_all.{md,json}`` (the figures of ``BENCHMARKS.md``).

* ``throughput`` (and its py-evm ceiling, ``evm_ceiling``), ``chaincode``, ``consensus``,
  ``chain_verify``, ``queries``, ``scaling``, ``peers``: the steps of ``run_all``;
* ``soak`` (a package): a cluster under the abusive requests of issue 15, run by hand;
* ``pki_gas``: CPU per PKI signature check against its gas; ``profile_node``: a py-spy
  profile of the transaction path, written to ``bench/profiles/``;
* ``common``: what they share (machine details, statistics, result writing, nodes and
  clusters, JSON-RPC, signing, load); ``npm``: installing the peers (Ganache, anvil) and
  the tool-compatibility tests' npm packages.
"""
