"""QBFT consensus: the message codec (`messages`) and the pure protocol state machine (`machine`)."""
