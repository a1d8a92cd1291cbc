def show(items):
    # ruleid: python.style.len-compare-zero
    if len(items) == 0:
        return
    # ruleid: python.style.print-call
    print(items)


if __name__ == "__main__":
    # ok: python.style.print-call
    print("done")
