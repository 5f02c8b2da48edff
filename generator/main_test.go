package generator_test

import (
	"testing"

	"github.com/seedmicro/micro/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m, nil) }
