"""The clinician's hand: confirmed words cut from crops, as vectors, for suggestions and search by handwriting."""
