"""Statistical disclosure control: cells about very few people are not published as such."""

SMALL_CELL_LIMIT = 5
"""A cell counting 1 to 4 people could point at someone; zero people identifies nobody."""


def is_small_cell(people: int) -> bool:
    return 0 < people < SMALL_CELL_LIMIT
