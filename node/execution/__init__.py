"""Execution: what a block does to the state.

`vm` is py-evm's Cancun VM with QBFT headers, a zero base fee and the transaction codec;
`pki` is the certificate-verification precompile the chaincode calls; `genesis` reads
genesis.json into the first state; `chain` builds, validates, executes and commits blocks
(one LevelDB batch per block); `permissions` reads the on-chain membership that decides who
may send; `txpool` holds admitted transactions until a block takes them. Nothing here
knows about peers, timers or HTTP.
"""
