"""Generated code for package warehouse.v1 (see *.proto)."""
