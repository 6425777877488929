"""``flask`` sub-commands of PhotoChanger."""
