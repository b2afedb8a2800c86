"""Pure evidence formats and their verification; depends on nothing else of ours."""
