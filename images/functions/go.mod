module faasbed.io/functions

go 1.19
