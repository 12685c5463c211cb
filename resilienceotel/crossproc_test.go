package resilienceotel_test

const workerEnv = "RESILIENCEOTEL_TEST_WORKER"

func runWorkerProcess() int { return 0 }
