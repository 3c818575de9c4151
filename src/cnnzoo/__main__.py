"""``python -m cnnzoo`` is ``cnnzoo`` (so ``torchrun -m cnnzoo train …`` launches DDP)."""

from cnnzoo.cli import main

if __name__ == "__main__":
    main()
