package sock

// eventfdForTest makes an eventfd, for TestOpenFaults.
func eventfdForTest() ([]int, error) { fd, err := Eventfd(); return []int{fd}, err }
