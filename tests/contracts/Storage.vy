# pragma version ~=0.4.3
# A storage-writing contract used by the quickstart, the integration tests and
# the throughput benchmark: every `set` writes a slot and emits an event.

event Stored:
    setter: indexed(address)
    key: indexed(uint256)
    value: uint256

values: public(HashMap[uint256, uint256])
last: public(uint256)
writes: public(uint256)


@external
def set(key: uint256, val: uint256):
    self.values[key] = val
    self.last = val
    self.writes += 1
    log Stored(setter=msg.sender, key=key, value=val)


@view
@external
def get(key: uint256) -> uint256:
    return self.values[key]
