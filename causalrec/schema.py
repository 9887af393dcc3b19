"""Column names shared by every module and chapter, so that no function repeats column arguments.
>>> from causalrec import schema
>>> schema.USER, schema.ITEM
('user_id', 'item_id')
"""

USER = "user_id"
ITEM = "item_id"

# Logged interaction columns
DAY = "day"
EXPOSED = "exposed"
POSITION = "position"
CLICKED = "clicked"
PURCHASED = "purchased"
RATING = "rating"
POLICY_SCORE = "policy_score"

# User columns
GROUP = "group"
ACTIVITY = "activity"
PRICE_SENSITIVITY = "price_sensitivity"

# Item columns
CATEGORY = "category"
PRICE = "price"
POPULARITY = "popularity"
DESCRIPTION = "description"

# Training label (0/1) written by prep.binarize_ratings
LABEL = "label"

# Model output columns
SCORE = "score"
RANK = "rank"

INTERACTION_COLUMNS = (USER, ITEM, DAY, POLICY_SCORE, EXPOSED, POSITION, CLICKED, PURCHASED, RATING)
RANDOMIZED_COLUMNS = (USER, ITEM, DAY, EXPOSED, POSITION, CLICKED, PURCHASED, RATING)
USER_COLUMNS = (USER, GROUP, ACTIVITY, PRICE_SENSITIVITY)
ITEM_COLUMNS = (ITEM, CATEGORY, PRICE, POPULARITY, DESCRIPTION)

RATING_MIN = 1
RATING_MAX = 5
