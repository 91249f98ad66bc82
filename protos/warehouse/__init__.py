"""Generated protocol buffer packages of the warehouse API."""
