// A stand-in for github.com/alibaba/ilogtail/pkg, for compile checks only: see README.md.
module github.com/alibaba/ilogtail/pkg

go 1.24.0
