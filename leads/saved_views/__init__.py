"""A member's saved views of the lead list: filters, search, sort and columns, by name."""
