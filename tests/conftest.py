"""Set-up shared by the whole suite.

One intra-op thread per test process: the suite runs on two pytest workers
(``make test``), the models under test are small, and OpenMP threads that
outnumber the cores spin-wait on each other, which slows a LeNet-5 step down
many times over. Results do not depend on the thread count.
"""

import torch

torch.set_num_threads(1)
