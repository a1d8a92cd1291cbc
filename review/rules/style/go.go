package main

import (
	"errors"
	"fmt"
)

func fail(name string) error {
	// ok: go.style.errors-new-sprintf
	_ = fmt.Errorf("bad %s", name)
	// ruleid: go.style.errors-new-sprintf
	return errors.New(fmt.Sprintf("bad %s", name))
}
