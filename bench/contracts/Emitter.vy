# pragma version ~=0.4.3
# bench/peers.py's log workload: `emit_many(n)` emits n events shaped like
# tests/contracts/Storage.vy's `Stored` (two indexed topics and one data word),
# so 10,000 events take 10 transactions instead of 10,000.

event Tick:
    sender: indexed(address)
    seq: indexed(uint256)
    value: uint256

MAX_PER_CALL: constant(uint256) = 5000

emitted: public(uint256)


@external
def emit_many(n: uint256):
    base: uint256 = self.emitted
    for i: uint256 in range(n, bound=MAX_PER_CALL):
        log Tick(sender=msg.sender, seq=base + i, value=i)
    self.emitted = base + n
