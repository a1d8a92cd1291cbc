# ruleid: python.correctness.mutable-default
def add(item, items=[]):
    items.append(item)
    return items


# ok: python.correctness.mutable-default
def add_safe(item, items=None):
    return [*(items or []), item]


def check(name, value, count):
    # ruleid: python.correctness.is-literal
    if name is "admin":
        pass
    # ok: python.correctness.is-literal
    if name is None:
        pass
    # ruleid: python.correctness.none-equality
    if value == None:
        pass
    # ruleid: python.correctness.assert-tuple
    assert (count > 0, "count must be positive")
    # ok: python.correctness.assert-tuple
    assert count > 0, "count must be positive"


def risky(fn):
    # ruleid: python.correctness.bare-except
    try:
        fn()
    except:
        pass
    # ok: python.correctness.bare-except
    try:
        fn()
    except ValueError:
        pass
