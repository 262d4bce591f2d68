"""Curation: from catalogued shots to a dataset a curator can trust.

Three subpackages that never import each other, so each can change (or be reused) alone; the CLI
(`rdrf.commands`) wires them together:

- `registration`: align a degraded shot onto its GT, mask the raindrops, judge the pair (`rdrf align`);
- `dataset`: scene splits and exports in training layouts (`rdrf split`, `rdrf export`);
- `report`: the QA report (`rdrf report`).
"""
