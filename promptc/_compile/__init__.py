"""The compiler: the driver, the board, the strategy contract, evaluation, data, plans, records."""
