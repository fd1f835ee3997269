"""Operations: look into and replay the dead-letter topic, restart failed connector tasks,
and measure how fresh every ODS table is (so an idle source reads "caught up", a stuck
stage a growing number)."""
