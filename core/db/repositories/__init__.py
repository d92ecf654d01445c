"""Every query lives in these modules; services call them inside a transaction they opened."""
