package generator_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/seedmicro/micro/generator"
)

// BenchmarkScaffoldService plans, renders, formats and writes a service
// with three plugins.
func BenchmarkScaffoldService(b *testing.B) {
	a := generator.SampleServiceAnswers()[1]
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		set := serviceSet(b)
		plan, err := generator.PlanService(generator.ServiceRequest{Set: set, Answers: a, Dir: filepath.Join(dir, fmt.Sprint(i))})
		if err != nil {
			b.Fatal(err)
		}
		if err := plan.Write(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRender renders the service set in memory only.
func BenchmarkRender(b *testing.B) {
	a := generator.SampleServiceAnswers()[1]
	set := serviceSet(b)
	for b.Loop() {
		if _, err := set.Render(generator.NewServiceData(a)); err != nil {
			b.Fatal(err)
		}
	}
}
