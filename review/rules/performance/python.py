import re


def lookup(d, k, values, lines):
    # ruleid: python.performance.keys-membership
    if k in d.keys():
        pass
    # ok: python.performance.keys-membership
    if k in d:
        pass
    # ruleid: python.performance.sorted-first
    smallest = sorted(values)[0]
    # ok: python.performance.sorted-first
    smallest = min(values)
    # ruleid: python.performance.regex-compile-in-loop
    for line in lines:
        pattern = re.compile("a+b")
        pattern.match(line)
    return smallest
