"""Associates: stores, associates and store managers, and what they do for customers."""
