package main

import "os"

func read(path string) ([]byte, error) {
	// ruleid: go.correctness.defer-before-error-check
	f, err := os.Open(path)
	defer f.Close()
	if err != nil {
		return nil, err
	}
	return nil, nil
}

func readSafe(path string) (*os.File, error) {
	// ok: go.correctness.defer-before-error-check
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f, nil
}

func size(path string) (int64, error) {
	info, err := os.Stat(path)
	// ruleid: go.correctness.nil-error-on-error
	if err != nil {
		return 0, nil
	}
	// ok: go.correctness.nil-error-on-error
	if info == nil {
		return 0, nil
	}
	return info.Size(), nil
}
