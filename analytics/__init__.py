"""Analytics: the aggregator (events -> rollups, the runs projection, 1-second windows)
and the queries the API answers from them."""
