## tests/unit: cmocka programs, one per module
